"""What an experiment ends in: results and claims tables (``tables``), the replication
report (``replication``), the campaign's own DVC lock (``campaign``)."""
