"""POS connector: the stores' tills (sales with split tenders, returns, voids, stock counts,
end-of-day closes), live as signed webhooks and offline as a day's upload. See
docs/connectors.md (POS) and docs/contracts/pos.md."""
