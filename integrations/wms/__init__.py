"""Warehouse (WMS / 3PL) integration: the generic release/shipment contract.

See docs/contracts/wms.md.
"""
