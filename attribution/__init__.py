"""Attribution: match suggestions against an index of open-source code (issue 4)."""
