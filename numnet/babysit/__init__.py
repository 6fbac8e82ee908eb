"""Babysitting the learning process: the lecture's checks, monitors and diagnoses as tools."""
