-- One database per service (each service owns its data). The ledger's database is created by
-- POSTGRES_DB.
CREATE DATABASE performance OWNER hrmesh;
CREATE DATABASE orchestrator OWNER hrmesh;
