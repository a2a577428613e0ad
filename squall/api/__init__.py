"""The HTTP side of Squall besides the pages: authentication, and the REST API."""
