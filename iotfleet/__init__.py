"""iotfleet: device fleets and OTA firmware updates on AWS IoT Device Management."""

__version__ = "0.1.0"
