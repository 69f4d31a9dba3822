"""Render.com: the REST client, waiting on deploys and jobs, and the operations built on them.

client   RenderClient and the API's errors
wait     follow a deploy or job to a final state
ops      restart, deploy, run_job, render_status (guarded, recorded)
"""

from oncall.render.client import RenderClient, RenderConflict, RenderNotFound

__all__ = ["RenderClient", "RenderConflict", "RenderNotFound"]
