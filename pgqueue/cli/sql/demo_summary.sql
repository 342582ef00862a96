-- How the demo's batch ended: completions (and how many needed a retry), dead
-- letters, and how long after its enqueue the delayed command started.
SELECT count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
       count(*) FILTER (WHERE status = 'COMPLETED' AND attempts > 0) AS after_retry,
       count(*) FILTER (WHERE status = 'FAILED') AS failed,
       max(extract(epoch FROM started_at - created_at))
           FILTER (WHERE step_name = 'send_digest') AS delayed_start
FROM {command}
