"""From a prompt to code frames: prompt layout, sampling, the step protocol and its implementations, one loop."""
