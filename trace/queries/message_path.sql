-- The path of one message: where it was published and every connection
-- that received it, as seen on the wire (PUB arriving at a server, MSG
-- arriving at a client).  The identity is the payload's first word, which
-- workloads set to "<stream>#<counter>".
--   sim query run.db trace/queries/message_path.sql id=pub#17
SELECT e.seq,
       printf('%d.%06d', e.t_ns / 1000000000, e.t_ns % 1000000000 / 1000)
         AS t_s,
       k.name AS event,
       CASE k.name WHEN 'proto_pub' THEN p.name ELSE n.name END AS client,
       CASE k.name WHEN 'proto_pub' THEN n.name ELSE p.name END AS server,
       e.conn,
       e.subject,
       CASE k.name WHEN 'proto_msg' THEN 'sid ' || e.value
                   ELSE e.value || ' bytes' END AS detail
FROM events e
JOIN kinds k ON k.id = e.kind
LEFT JOIN nodes n ON n.id = e.node
LEFT JOIN nodes p ON p.id = e.peer
WHERE e.text = :id AND k.name IN ('proto_pub', 'proto_msg')
ORDER BY e.seq;
