"""``mailbot demo``: a whole reporting week in well under a minute, with nothing installed or configured.

``run`` drives the week, ``data`` is the world it simulates (DSPs, roster, the week's mail), ``servers`` the
in-process IMAP and SMTP servers on loopback.
"""

from mailbot.demo.run import POLL_LAG, STEP, DemoResult, FakeClock, WorkdirInUse, run_demo

__all__ = ["POLL_LAG", "STEP", "DemoResult", "FakeClock", "WorkdirInUse", "run_demo"]
