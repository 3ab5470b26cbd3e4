-- Everything that happened on one connection (:conn, the id in the conns
-- table and in events.conn), in order.  Bytes arriving are summed per
-- instant to keep the listing short.
--   sim query run.db trace/queries/conn_timeline.sql conn=3
SELECT MIN(e.seq) AS seq,
       printf('%d.%06d', e.t_ns / 1000000000, e.t_ns % 1000000000 / 1000)
         AS t_s,
       k.name AS event,
       n.name AS node,
       p.name AS peer,
       CASE k.name WHEN 'net_data' THEN SUM(e.value) ELSE MAX(e.value) END
         AS value,
       MAX(e.subject) AS subject,
       MAX(e.text) AS text
FROM events e
JOIN kinds k ON k.id = e.kind
LEFT JOIN nodes n ON n.id = e.node
LEFT JOIN nodes p ON p.id = e.peer
WHERE e.conn = :conn
GROUP BY e.t_ns, e.kind, e.node,
         CASE k.name WHEN 'net_data' THEN 0 ELSE e.seq END
ORDER BY seq;
