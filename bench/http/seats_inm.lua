-- GET /api/v1/schedules/ID/seats with If-None-Match: a browser polling the
-- seat map it already has. Each wrk thread asks plainly until a 200 brings
-- an ETag, then sends that tag in If-None-Match; a later 200 (the list
-- changed) brings the tag it sends from then on, as a browser would.
-- done() reports how many replies were 304 and how many full 200s, so a
-- server that ignores the header cannot pass for one that honours it.
-- Args: TOKEN_FILE (ACTIVE tokens, one a line) SCHEDULE_ID.
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "common.lua")

function setup(thread) bench.setup(thread) end

local tokens, requests, path, etag, i = {}, {}, nil, nil, 1
not_modified, full, other = 0, 0, 0

-- One prebuilt request per token, with the current tag once there is one:
-- request() stays a table lookup, as in seats.lua.
local function build()
   requests = {}
   for _, token in ipairs(tokens) do
      local h = {["Authorization"] = "Bearer " .. token}
      if etag then h["If-None-Match"] = etag end
      table.insert(requests, wrk.format("GET", path, h))
   end
end

function init(args)
   path = "/api/v1/schedules/" .. args[2] .. "/seats"
   for token in io.lines(args[1]) do
      if token ~= "" then table.insert(tokens, token) end
   end
   build()
   i = (tid * 7919) % #requests + 1
end

function request()
   local r = requests[i]
   i = i % #requests + 1
   return r
end

function response(status, headers, body)
   if status == 304 then
      not_modified = not_modified + 1
   elseif status == 200 then
      full = full + 1
      local tag = headers["ETag"] or headers["Etag"] or headers["etag"]
      if tag and tag ~= etag then
         etag = tag
         build()
      end
   else
      other = other + 1
   end
end

function done(summary, latency, requests_)
   bench.report(summary, latency, {not_modified = bench.total("not_modified"),
                                   full = bench.total("full"), other = bench.total("other")})
end
