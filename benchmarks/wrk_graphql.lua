-- wrk script of benchmarks/api_latency.py: POST one GraphQL request (the JSON body in KG_WRK_BODY)
-- and report, after the run, the request count, the errors and the whole latency histogram.
--
-- Output lines (microseconds):
--   summary <requests> <duration_us> <http_errors> <graphql_errors> <socket_errors>
--   latency <value_us> <count>      one line per distinct latency value

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("KG_WRK_BODY")

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

graphql_errors = 0

function response(status, headers, body)
   -- A GraphQL error comes back with status 200, so the body is checked as well.
   if body ~= nil and string.find(body, '"errors"', 1, true) then
      graphql_errors = graphql_errors + 1
   end
end

function done(summary, latency, requests)
   local errors = 0
   for _, thread in ipairs(threads) do
      errors = errors + thread:get("graphql_errors")
   end
   local socket = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
   io.write(string.format("summary %d %d %d %d %d\n", summary.requests, summary.duration, summary.errors.status,
                          errors, socket))
   for index = 1, #latency do
      local value, count = latency(index)
      io.write(string.format("latency %d %d\n", value, count))
   end
end
