"""What every transport sends the same way: Convex JSON values and text
(:mod:`.encoding`), and how a call that ran and failed is reported (:mod:`.failures`).

HTTP (``server/``) and the WebSocket sync protocol (``sync/``) both build on it; neither
imports the other.
"""
