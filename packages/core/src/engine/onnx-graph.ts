/**
 * A small builder for ONNX models on top of the maintained protobuf definition in `onnx-proto`
 * (protobufjs classes generated from onnx.proto), so no model bytes are written by hand.
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** onnx-proto ships onnx.proto v1.10.2: IR version 8, default-domain opset 15. */
const IR_VERSION = 8;
const OPSET = 15;

type Attribute = number | number[];

export class GraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  /** A float32 graph input (or output) of fixed shape. */
  input(name: string, dims: number[]): string {
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  output(name: string, dims: number[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  /** A float32 initializer; raw bytes keep encoding of large tensors (X is ~37 MB) fast. */
  floatConst(name: string, data: Float32Array | number, dims: number[] = []): string {
    const values = typeof data === "number" ? Float32Array.of(data) : data;
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dims,
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
      }),
    );
    return name;
  }

  int64Const(name: string, values: number[]): string {
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dims: [values.length],
        dataType: onnx.TensorProto.DataType.INT64,
        int64Data: values,
      }),
    );
    return name;
  }

  /**
   * Adds one node and returns its output's name. Integer attributes are written as INT, other
   * numbers as FLOAT, arrays as INTS.
   */
  node(
    opType: string,
    inputs: string[],
    attributes: Record<string, Attribute> = {},
    output?: string,
  ): string {
    const out = output ?? `${opType.toLowerCase()}_${this.counter++}`;
    const attribute = Object.entries(attributes).map(([name, value]) => {
      if (Array.isArray(value)) {
        return onnx.AttributeProto.create({
          name,
          type: onnx.AttributeProto.AttributeType.INTS,
          ints: value,
        });
      }
      return Number.isInteger(value) && !FLOAT_ATTRIBUTES.has(name)
        ? onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value })
        : onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value });
    });
    this.nodes.push(onnx.NodeProto.create({ opType, input: inputs, output: [out], attribute, name: out }));
    return out;
  }

  toBytes(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: "@unlearn/core",
      opsetImport: [{ domain: "", version: OPSET }],
      graph: onnx.GraphProto.create({
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** Attributes that are floats in the ONNX operator schemas even when their value is a whole number. */
const FLOAT_ATTRIBUTES = new Set(["alpha", "beta"]);

function valueInfo(name: string, dims: number[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((dimValue) => ({ dimValue })) },
      },
    },
  });
}
