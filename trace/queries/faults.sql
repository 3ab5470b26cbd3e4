-- Faults and what they did: timeline steps, partitions and heals, resets,
-- process crashes and restarts, disk losses and expectation verdicts.
--   sim query run.db trace/queries/faults.sql
SELECT e.seq,
       printf('%d.%06d', e.t_ns / 1000000000, e.t_ns % 1000000000 / 1000)
         AS t_s,
       k.name AS event,
       n.name AS node,
       e.value,
       COALESCE(e.subject || ': ', '') || IFNULL(e.text, '') AS what
FROM events e
JOIN kinds k ON k.id = e.kind
LEFT JOIN nodes n ON n.id = e.node
WHERE k.name LIKE 'fault_%' OR k.name LIKE 'proc_%'
   OR k.name IN ('step', 'disk_lost', 'net_reset', 'net_connect_timeout',
                 'expect_pass', 'expect_fail')
ORDER BY e.seq;
