-- A thread created for a signed-in user is bound to that user, not only to the widget's visitor
-- id: its binding key names both ("v:<visitor>|user:<sub>", or "user:<sub>" without a visitor
-- id), so only a request carrying a valid identity token for that user matches it.
update threads
set visitor = case
    when visitor is null or visitor = 'user:' || visitor_user_id then 'user:' || visitor_user_id
    else visitor || '|user:' || visitor_user_id
end
where visitor_user_id is not null
  and (visitor is null or visitor not like '%|user:%')
  and visitor is distinct from 'user:' || visitor_user_id;
