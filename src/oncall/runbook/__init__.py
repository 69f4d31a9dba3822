"""The runbook's rooms above all others: triage (what happened) and recover (the whole runbook).

Import from the modules: `oncall.runbook.triage.triage`, `oncall.runbook.recover.recover`.
"""
