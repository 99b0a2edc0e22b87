"""Pixel-level building blocks: colour and alpha, padding, resampling, FFT correlation, drawing."""
