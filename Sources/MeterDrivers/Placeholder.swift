// MeterDrivers
