"""Engine: candidate enumeration, the model/chip arrays and the vectorized roofline."""
