//! The embedded backend: a durable partitioned log, state and view store on redb.
