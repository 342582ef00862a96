-- Empty the table between runs, and the flow-control tables a run may have set.
TRUNCATE {command}, {limits}, {pauses}, {starts}, {settings}
