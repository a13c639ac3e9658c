-- A turn's lock is a short lease its worker renews while the turn runs, writing the reply so far
-- (``draft``) with it: when a worker dies, its threads are freed within a lease, the partial reply
-- kept in the history. The index finds lapsed leases without reading every thread.
alter table threads add column draft text;
create index threads_leased_idx on threads (locked_until) where active_run is not null;
