-- Which scan claim a worker runs next, asked after a plain claim (which runs
-- with no lead) took nothing: claim_lock.sql's row, with no lock taken.
{claim_mode}
