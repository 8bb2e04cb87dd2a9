mod resilience;
