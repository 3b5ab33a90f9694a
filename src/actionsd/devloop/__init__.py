"""The local developer loop: fire a trigger, test an action, sample events, live logs,
and the pytest plugin."""
