"""Journey mapping: sessions, lifecycle stages, funnels, transitions, paths, friction, what-if."""

from crm_research.journey.funnel import funnel, funnel_paths
from crm_research.journey.sessions import session_summary, sessions
from crm_research.journey.transitions import END, START, transitions

__all__ = ["sessions", "session_summary", "funnel", "funnel_paths", "transitions", "START", "END"]
