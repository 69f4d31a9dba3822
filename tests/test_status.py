"""Status words: one enum, printed exactly as the bare strings were, other spellings mapped once."""

import json

from oncall.doctor import checks as doctor
from oncall.health import model as health
from oncall.runbook import recover
from oncall.schema import result as verify_rows
from oncall.status import SAME_AS, Status


def test_a_status_serialises_as_the_word_reports_printed_before() -> None:
    assert (
        json.dumps({"result": Status.WARN, "status": Status.PASS}) == '{"result": "warn", "status": "pass"}'
    )
    assert f"{Status.FAILED}" == "failed"


def test_every_other_spelling_means_one_of_the_four_verdicts() -> None:
    verdicts = {Status.OK, Status.WARN, Status.FAIL, Status.SKIP}
    assert set(Status) == verdicts | set(SAME_AS)
    assert set(SAME_AS.values()) <= verdicts


def test_each_report_takes_its_words_from_the_enum() -> None:
    used = [doctor.OK, doctor.WARN, doctor.FAIL, doctor.SKIP, health.PASS, health.FAIL, health.SKIP]
    used += [verify_rows.OK, verify_rows.WARNING, verify_rows.FAIL, recover.OK, recover.FAILED]
    assert all(isinstance(word, Status) for word in used)
