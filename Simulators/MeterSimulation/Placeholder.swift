// MeterSimulation
