pub mod engine;
pub mod resilience;
pub mod sagas;
