using Telemetry.Testing;

namespace Telemetry.ClickHouse.Tests;

/// <summary>Every ClickHouse integration test shares one server; each uses a database of its own.</summary>
[CollectionDefinition(Name)]
public sealed class ClickHouseServerDefinition : ICollectionFixture<ClickHouseServer>
{
    public const string Name = "ClickHouse";
}
