-- wrk: POST /api/v1/recommendations, a new client per request (so every request misses the
-- cache), reviewed vehicles spread over the catalog. Arguments: the catalog size, and a seed
-- that must differ between runs (an unseeded generator repeats its client ids, and a repeated
-- request within the cache's lifetime is a hit).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local vehicles = 10000
local counter = 0
function init(args)
  vehicles = tonumber(args[1] or vehicles)
  math.randomseed(tonumber(args[2]) or os.time())
end
function request()
  counter = counter + 1
  local body = string.format('{"product_id": %d, "client_id": %d, "commentaire": "Excellent véhicule, très confortable et fiable !", "top_k": 10}',
    (counter * 7919) % vehicles + 1, math.random(1, 1000000000))
  return wrk.format(nil, nil, nil, body)
end
