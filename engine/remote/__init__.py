"""Remote engines: clients of an inference endpoint inside the company network (issue 5)."""
