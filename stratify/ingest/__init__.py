"""Deliveries in: open and list the agencies' drops (drops) and pull from them (pull), look at the landing zone without following links, read and type a delivery, quarantine and archive, load."""
