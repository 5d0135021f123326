"""Turn folders of photos into a captioned library: scan, queue, decode, caption, store, write.

Stages are plain functions over batches (``stages``), composed by ``runner`` the
same way for the CLI (``annotator --index``) and the GUI.
"""

from __future__ import annotations
