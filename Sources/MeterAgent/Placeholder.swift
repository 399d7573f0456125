// MeterAgent
