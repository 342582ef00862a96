-- Before a limit is set or changed, in its transaction: the limit table locked
-- exclusively, which waits for every claim under way (each holds the table
-- locked shared from before its snapshot until it commits) and holds back
-- every claim after it until the limit commits. A claim that could not see the
-- new limit has therefore committed before it, and the next claim that counts
-- the limit counts what that claim took (part_plain_filter.sql).
LOCK TABLE {limits} IN ACCESS EXCLUSIVE MODE
