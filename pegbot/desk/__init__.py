"""The desk's loop: signal actions, the issuer leg, rebalancing proposals, the chain watcher."""
