"""Deliveries in: pull from the agencies' drops, look at the landing zone without following links, read and type a delivery, quarantine and archive, load."""
