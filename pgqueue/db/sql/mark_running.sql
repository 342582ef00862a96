-- The tool starts: CLAIMED becomes RUNNING, for many commands at once.
{mark_running}
