-- The life of one server or client (:node, its name): process events,
-- connections, protocol errors, reconnects, log warnings; no byte counts.
--   sim query run.db trace/queries/node_timeline.sql node=sub1
SELECT e.seq,
       printf('%d.%06d', e.t_ns / 1000000000, e.t_ns % 1000000000 / 1000)
         AS t_s,
       k.name AS event,
       p.name AS peer,
       e.conn,
       e.value,
       e.text
FROM events e
JOIN kinds k ON k.id = e.kind
JOIN nodes n ON n.id = e.node
LEFT JOIN nodes p ON p.id = e.peer
WHERE n.name = :node
  AND k.name NOT IN ('net_data', 'proto_msg', 'proto_pub', 'net_held',
                     'net_released')
  AND NOT (k.name = 'log' AND e.value NOT IN (69, 70, 87))
ORDER BY e.seq;
