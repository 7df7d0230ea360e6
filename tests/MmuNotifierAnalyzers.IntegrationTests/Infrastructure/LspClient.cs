using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using StreamJsonRpc;

namespace MmuNotifierAnalyzers.IntegrationTests.Infrastructure;

/// <summary>
/// The editor's end of a language-server session: the server is a <c>dotnet</c> child process
/// spoken to over its stdin/stdout (JSON-RPC with LSP's Content-Length headers), and this client
/// answers the requests the server sends back the way an editor configured by the user does.
/// </summary>
public sealed class LspClient : IAsyncDisposable
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(10);

    private readonly Process _process;
    private readonly JsonRpc _rpc;
    private readonly StringBuilder _log = new();

    private LspClient(Process process, IReadOnlyDictionary<string, JsonNode> settings)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_log)
            {
                _log.AppendLine(e.Data);
            }
        };
        _process.BeginErrorReadLine();

        var formatter = new SystemTextJsonFormatter();
        // LSP's names are camelCase, the records here .NET's PascalCase.
        formatter.JsonSerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        _rpc = new JsonRpc(new HeaderDelimitedMessageHandler(
            process.StandardInput.BaseStream, process.StandardOutput.BaseStream, formatter));
        // workspace/configuration: one answer per item asked, null for a section the user did not set.
        _rpc.AddLocalRpcMethod("workspace/configuration", (JsonElement items) =>
            items.EnumerateArray()
                .Select(item => item.TryGetProperty("section", out var section) && settings.TryGetValue(section.GetString()!, out var value)
                    ? value.DeepClone()
                    : null)
                .ToArray());
        _rpc.AddLocalRpcMethod("client/registerCapability", (JsonElement registrations) => { });
        _rpc.AddLocalRpcMethod("window/workDoneProgress/create", (JsonElement token) => { });
        _rpc.StartListening();
    }

    /// <summary>What the server wrote on stderr so far (its log), for failure messages.</summary>
    public string ServerLog
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts <c>dotnet <paramref name="arguments"/></c> in <paramref name="workingDirectory"/>;
    /// <paramref name="settings"/> are the client's configuration sections by name.</summary>
    public static LspClient Start(
        string workingDirectory, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, JsonNode> settings)
    {
        var process = Process.Start(DotNet.StartInfo(workingDirectory, arguments))
            ?? throw new InvalidOperationException("'dotnet " + string.Join(" ", arguments) + "' did not start.");
        return new LspClient(process, settings);
    }

    public async Task<T> RequestAsync<T>(string method, object parameters, CancellationToken ct)
    {
        try
        {
            return await _rpc.InvokeWithParameterObjectAsync<T>(method, parameters, ct);
        }
        catch (RemoteRpcException e)
        {
            // An error answer, or the connection lost: the server's log says why.
            throw new InvalidOperationException($"'{method}' failed: {e.Message}{Environment.NewLine}{Describe()}", e);
        }
    }

    public Task NotifyAsync(string method, object parameters) =>
        _rpc.NotifyWithParameterObjectAsync(method, parameters);

    /// <summary>initialize and initialized, with <paramref name="rootDirectory"/> as the one
    /// workspace folder; the client pulls diagnostics and answers workspace/configuration.</summary>
    public async Task InitializeAsync(string rootDirectory, CancellationToken ct)
    {
        var root = Uri(rootDirectory);
        await RequestAsync<JsonElement>("initialize", new
        {
            processId = Environment.ProcessId,
            rootUri = root,
            workspaceFolders = new[] { new { uri = root, name = Path.GetFileName(rootDirectory) } },
            capabilities = new
            {
                workspace = new { configuration = true, workspaceFolders = true },
                textDocument = new { diagnostic = new { dynamicRegistration = false } },
                window = new { workDoneProgress = true },
            },
        }, ct);
        await NotifyAsync("initialized", new { });
    }

    public Task OpenAsync(string path, string text) =>
        NotifyAsync("textDocument/didOpen", new
        {
            textDocument = new { uri = Uri(path), languageId = "csharp", version = 1, text },
        });

    /// <summary>One incremental edit, as an editor sends a keystroke or a paste: the text between
    /// two positions replaced by <paramref name="text"/>.</summary>
    public Task ChangeAsync(string path, int version, LspPosition start, LspPosition end, string text) =>
        NotifyAsync("textDocument/didChange", new
        {
            textDocument = new { uri = Uri(path), version },
            contentChanges = new[] { new { range = new LspRange(start, end), text } },
        });

    /// <summary>textDocument/diagnostic: what the editor squiggles in the document now.</summary>
    public async Task<IReadOnlyList<LspDiagnostic>> DiagnosticsAsync(string path, CancellationToken ct)
    {
        var report = await RequestAsync<DocumentDiagnosticReport>(
            "textDocument/diagnostic", new { textDocument = new { uri = Uri(path) } }, ct);
        return report.Items;
    }

    /// <summary>The server's state and log, for a failure message.</summary>
    public string Describe() =>
        (_process.HasExited ? $"The server exited with code {_process.ExitCode}." : "The server is running.")
        + Environment.NewLine + "Its log (stderr):" + Environment.NewLine + ServerLog;

    private static string Uri(string path) => new Uri(path).AbsoluteUri;

    /// <summary>shutdown and exit as an editor closes the session; the process is killed if it
    /// does not go on its own.</summary>
    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(ShutdownTimeout);
        try
        {
            if (!_process.HasExited)
            {
                await _rpc.InvokeWithCancellationAsync("shutdown", cancellationToken: cts.Token);
                await _rpc.NotifyAsync("exit");
                await _process.WaitForExitAsync(cts.Token);
            }
        }
        catch (Exception e) when (e is ConnectionLostException or OperationCanceledException or RemoteRpcException or IOException)
        {
            // Closing is best effort: the kill below ends it either way.
        }
        finally
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _rpc.Dispose();
            _process.Dispose();
        }
    }
}

/// <summary>An LSP position: 0-based line and UTF-16 column.</summary>
public sealed record LspPosition(int Line, int Character);

public sealed record LspRange(LspPosition Start, LspPosition End);

/// <summary>A full report of textDocument/diagnostic (the server sends no result ids, so never
/// an unchanged one).</summary>
public sealed record DocumentDiagnosticReport(LspDiagnostic[] Items);

/// <summary>One diagnostic of a report; <see cref="Severity"/> is LSP's (1 error, 2 warning, 3
/// information, 4 hint).</summary>
public sealed record LspDiagnostic(string? Code, LspRange Range, int Severity, string Message)
{
    public override string ToString() => $"({Range.Start.Line + 1},{Range.Start.Character + 1}): {Code} [{Severity}] {Message}";
}
