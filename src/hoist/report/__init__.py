"""``hoist report``: delivery metrics from the ledgers (:mod:`.metrics`), and a self-contained HTML page
(:mod:`.html`). :mod:`.sources` reads the ledgers and asks git for commit times."""
