mod resilience;
pub mod sagas;
