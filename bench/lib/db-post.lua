-- wrk script for the db suite: POST {path} with a JSON query.
-- DB_KIND=select: a point select by a random primary key (1..DB_ROWS);
-- DB_KIND=insert: a single-row insert. DB_PH: the placeholder (? or $1).
local kind = os.getenv("DB_KIND") or "select"
local ph = os.getenv("DB_PH") or "?"
local rows = tonumber(os.getenv("DB_ROWS") or "10000")
wrk.method = "POST"
wrk.path = os.getenv("DB_PATH") or "/db/query"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local body
  if kind == "select" then
    body = '{"sql":"SELECT id, name, score FROM users WHERE id = ' .. ph .. '","params":[' .. math.random(1, rows) .. ']}'
  else
    body = '{"sql":"INSERT INTO log (v) VALUES (' .. ph .. ')","params":["' .. math.random(1, 1000000) .. '"]}'
  end
  return wrk.format(nil, nil, nil, body)
end
