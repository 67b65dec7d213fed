"""The data API: datasets, runs and models over HTTP. Build it with `create_app(settings)`; it
never trains in a request, it starts runs through a runner (`prodcat_data.runners`)."""
