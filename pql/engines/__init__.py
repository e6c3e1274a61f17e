"""Where the feature core runs when one machine's memory is not the limit it should be.

The feature core is per entity, so a log splits cleanly into partitions of entities
(`partition`): each partition goes through pql's own ingestion, entity table and
feature core, and the partitions' rows together are exactly the whole log's rows. The
engines only move partitions around: `buckets` splits a log on disk and runs them one
at a time on this machine (bounded memory), `spark` hash-partitions it on a Spark
cluster (groupBy(...).applyInPandas). Nothing here writes a feature a second time.
"""
