"""Reliability harnesses: a crash-test writer and its driver, and concurrency workers."""
