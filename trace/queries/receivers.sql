-- Which connections received message :id, once per connection, with how
-- many copies each got (more than one is a duplicate delivery).
--   sim query run.db trace/queries/receivers.sql id=pub#17
SELECT e.conn,
       n.name AS client,
       p.name AS server,
       COUNT(*) AS copies,
       printf('%d.%06d', MIN(e.t_ns) / 1000000000,
              MIN(e.t_ns) % 1000000000 / 1000) AS first_t_s
FROM events e
JOIN kinds k ON k.id = e.kind
LEFT JOIN nodes n ON n.id = e.node
LEFT JOIN nodes p ON p.id = e.peer
WHERE k.name = 'proto_msg' AND e.text = :id
GROUP BY e.conn
ORDER BY MIN(e.seq);
